/**
 * The real DICOM validators as child processes, each reduced to the lines that mean a problem.
 * Their formats, as observed on the Debian packages: dciodvfy prints "Error - ..." and
 * "Warning - ..." lines on stderr and exits 0 either way; dsrdump exits non-zero when it cannot
 * parse the tree; DicomSRValidator always exits 0 and prints problems as free-form lines
 * ("Warning: ... Content Item not in template", "Parent content item ... has illegal relationship ..."),
 * so everything but its four progress lines counts as a problem.
 */
import { execFile } from 'node:child_process';

/** What one validator said. */
export interface ValidatorReport {
  readonly exitCode: number;
  readonly output: string;
  /** Lines that mean the file is wrong. */
  readonly errors: string[];
  /** Lines that mean the file is suspicious. */
  readonly warnings: string[];
}

interface RunResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(command, [...args], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ exitCode: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
    });
  });
}

function linesOf(text: string): string[] {
  return text.split('\n').map((line) => line.trimEnd()).filter((line) => line.length > 0);
}

/** dicom3tools' IOD checker. */
export async function dciodvfy(file: string): Promise<ValidatorReport> {
  const { exitCode, stdout, stderr } = await run('dciodvfy', [file]);
  const lines = linesOf(`${stdout}\n${stderr}`);
  return {
    exitCode,
    output: lines.join('\n'),
    errors: lines.filter((line) => line.startsWith('Error')),
    warnings: lines.filter((line) => line.startsWith('Warning')),
  };
}

/** DCMTK's SR parser; its output is the content tree. */
export async function dsrdump(file: string): Promise<ValidatorReport> {
  const { exitCode, stdout, stderr } = await run('dsrdump', [file]);
  const messages = linesOf(stderr);
  return {
    exitCode,
    output: stdout,
    errors: messages.filter((line) => /^[EF]: /.test(line)),
    warnings: messages.filter((line) => line.startsWith('W: ')),
  };
}

const PIXELMED_PROGRESS = [
  /^Found \w+ IOD$/,
  /^Found Root Template TID_\d+ \(\w+\)$/,
  /^Root Template Validation Complete$/,
  /^IOD validation complete$/,
];

/** PixelMed's SR validator: IOD, relationship and template (TID 1500, context groups) checks. */
export async function pixelmedSrValidator(file: string): Promise<ValidatorReport> {
  const { exitCode, stdout, stderr } = await run('java', [
    // A short run: the C1 compiler alone and the serial collector halve its CPU (13.6 s to 5.4 s of
    // user time for one SR, measured with OpenJDK 17), which the rest of a parallel suite needs.
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    // Its XSLT checks exceed the JDK's default XPath limits.
    '-Djdk.xml.xpathExprOpLimit=0',
    '-Djdk.xml.xpathExprGrpLimit=0',
    '-Djdk.xml.xpathTotalOpLimit=0',
    '-cp',
    '/usr/share/java/pixelmed.jar',
    'com.pixelmed.validate.DicomSRValidator',
    '-checkcontentitemorder',
    file,
  ]);
  const lines = linesOf(`${stdout}\n${stderr}`);
  const problems = lines.filter((line) => !PIXELMED_PROGRESS.some((progress) => progress.test(line)));
  return {
    exitCode,
    output: lines.join('\n'),
    errors: problems.filter((line) => !line.startsWith('Warning:')),
    warnings: problems.filter((line) => line.startsWith('Warning:')),
  };
}
