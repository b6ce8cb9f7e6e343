/**
 * Which way dependencies run (checked by `npm run typecheck` with dependency-cruiser).
 * Triggers (cli, sidecar, http) hand work to the pipeline; the pipeline asks the writers and then
 * the deliveries; the writers are pure (facts and measurements in, bytes or resources out).
 * Folders, top to bottom: cli, sidecar (and config.ts) > http > index > pipeline > delivery > inputs >
 * status > fhir > segmentation > dicom > measurements, study > orthanc; log, retry, uids and
 * errors.ts (which maps the FHIR writer's own errors too) sit below. No folder reaches back up
 * (no-folder-cycles): what two folders share lives in the lower one, or is passed in.
 */
const WRITERS = '^src/(dicom|fhir)/';
const IO_FOLDERS = '^src/(orthanc|pipeline|sidecar|http|cli|index|delivery|inputs|status)/';
/** Modules that reach files, sockets or servers. */
const IO_MODULES = ['^node:(fs|fs/promises|net|http|https)$', '^(fs|fs/promises|net|http|https)$', '^got$', '^node_modules/got/'];

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'No module imports itself through others.', from: { path: '^src/' }, to: { circular: true } },
    {
      name: 'no-folder-cycles',
      scope: 'folder',
      severity: 'error',
      comment: 'No folder imports a folder that imports it back (directly or through others): what both need lives in the lower one, or is passed in.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'writers-stay-pure',
      severity: 'error',
      comment: 'SR, private-tag and FHIR writers take facts and measurements and answer bytes or resources: no Orthanc, no pipeline, no triggers.',
      from: { path: WRITERS, pathNot: '^src/fhir/transaction\\.ts$' },
      to: { path: [IO_FOLDERS, ...IO_MODULES] },
    },
    {
      name: 'hl7-message-stays-pure',
      severity: 'error',
      comment: 'The ORU^R01 builder and its encoding are writers too; only deliver.ts and mllp.ts do I/O.',
      from: { path: '^src/delivery/hl7/(oru|encoding)\\.ts$' },
      to: { path: ['^src/(orthanc|pipeline|sidecar|http|cli|index|inputs|status)/', '^src/delivery/(run|forward|dicomweb)\\.ts$', '^node:(net|fs|fs/promises|http|https)$', '^(net|fs|http|https)$'] },
    },
    {
      name: 'deliveries-after-the-pipeline',
      severity: 'error',
      comment: 'The pipeline runs the deliveries and hands them what was written (WrittenOutputs); deliveries never reach back.',
      from: { path: '^src/delivery/' },
      to: { path: '^src/(pipeline|sidecar|http|cli|status)/' },
    },
    {
      name: 'orthanc-client-knows-nothing-above-it',
      severity: 'error',
      comment: 'Only src/orthanc knows Orthanc; it depends on nothing but errors, the logger and the retry primitive.',
      from: { path: '^src/orthanc/' },
      to: { path: '^src/', pathNot: ['^src/orthanc/', '^src/(errors|retry|log)\\.ts$'] },
    },
    {
      name: 'got-only-for-deliveries',
      severity: 'error',
      comment: 'Orthanc is reached through src/orthanc/transport.ts (node:http); got is for the deliveries to other servers only (issue 17: it was half the sidecar\'s CPU and most of the CLI\'s module loading).',
      from: { path: '^src/', pathNot: ['^src/delivery/dicomweb\\.ts$', '^src/fhir/transaction\\.ts$'] },
      // got has only an "exports" map, which dependency-cruiser leaves unresolved: it appears as the bare name.
      to: { path: ['^got$', '^node_modules/got/'] },
    },
    {
      name: 'http-receives-the-sidecar',
      severity: 'error',
      comment: 'The HTTP app gets what it needs from the running sidecar as the narrow interfaces of src/http/sidecar-view.ts; the sidecar builds it, never the other way.',
      from: { path: '^src/http/' },
      to: { path: '^src/(sidecar|cli)/' },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
  },
};
