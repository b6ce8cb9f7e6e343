/**
 * A throwaway PostgreSQL cluster for tests (Debian's postgresql package): a temporary folder,
 * a free loopback port, password authentication, and the Orthanc settings that put an Orthanc's
 * index on it (Debian's orthanc-postgresql plugin).
 */
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, orthancPlugin } from '../helpers/orthanc.js';

/**
 * The index plugin of the Orthanc under test (orthanc-postgresql puts it in Orthanc's plugin folder,
 * checked with dpkg -L): always from the same build as the binary, a 1.10 plugin does not load into 1.12.
 */
const postgresqlIndexPlugin = (): string => orthancPlugin('libOrthancPostgreSQLIndex.so', 'orthanc-postgresql');

/** A running test cluster with one database for Orthanc. */
export interface TestPostgres {
  readonly port: number;
  readonly database: string;
  readonly username: string;
  readonly password: string;
  /** Orthanc configuration overrides that put the index in this database (storage stays on files). */
  orthancConfig(storageDirectory: string): Record<string, unknown>;
  stop(): Promise<void>;
}

/** The newest installed server's bin folder, or a failure saying what to install (tests never skip silently). */
function serverBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined) throw new Error('PostgreSQL is not installed (no /usr/lib/postgresql/<version>/bin/initdb): run "apt-get install postgresql" or "bash .ci/run"');
  postgresqlIndexPlugin();
  return join(root, newest, 'bin');
}

/** initdb and the server refuse to run as root: run them as the postgres user when we are root. */
function asPostgres(command: string, args: readonly string[], options: ExecFileSyncOptions = {}): void {
  const root = process.getuid?.() === 0;
  const [file, argv] = root ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, [...args]];
  execFileSync(file, argv, { stdio: 'pipe', ...options });
}

/** Creates, starts and fills a cluster; resolves once the database accepts connections. */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = serverBin();
  const folder = mkdtempSync(join(tmpdir(), 'kv-postgres-'));
  const port = await freePort();
  const [username, password, database] = ['kidney', 'kidney-volumes-test', 'orthanc'];
  if (process.getuid?.() === 0) {
    const id = (name: string): number => Number(execFileSync('id', [name, 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(folder, id('-u'), id('-g'));
  }
  const passwordFile = join(folder, 'password');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o644 });
  const data = join(folder, 'data');
  try {
    asPostgres(join(bin, 'initdb'), ['-D', data, '-U', username, `--pwfile=${passwordFile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8']);
    // Durability settings off: the cluster lives for one test run, and the test is about Orthanc and the sidecars.
    const options = `-p ${port} -k ${folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100`;
    asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-o', options, '-l', join(folder, 'postgres.log'), '-w', '-t', '30', 'start']);
    asPostgres(join(bin, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', username, database], { env: { ...process.env, PGPASSWORD: password } });
  } catch (error) {
    const e = error as Error & { stderr?: Buffer };
    throw new Error(`PostgreSQL did not start: ${e.stderr?.toString() ?? e.message}\n${logTail(join(folder, 'postgres.log'))}`);
  }
  return {
    port,
    database,
    username,
    password,
    orthancConfig: (storageDirectory) => ({
      StorageDirectory: storageDirectory,
      Plugins: [postgresqlIndexPlugin()],
      PostgreSQL: { EnableIndex: true, EnableStorage: false, Host: '127.0.0.1', Port: port, Database: database, Username: username, Password: password, Lock: false },
    }),
    stop: async () => {
      try {
        asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    },
  };
}

function logTail(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}
