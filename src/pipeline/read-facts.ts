/**
 * Reads a study's facts from Orthanc once, for the writers: a few calls per series, not one per
 * instance (issue 17). The SOP class comes from the series' shared tags; only a series whose
 * instances differ in SOP class costs one metadata read per instance.
 */
import type { OrthancClient } from '../orthanc/client.js';
import { patientMainTags, studyMainTags } from '../study/main-tags.js';
import type { SimplifiedTags } from '../orthanc/types.js';
import type { InstanceFacts, SeriesFacts, StudyFacts } from '../study/facts.js';
import { mapLimit } from './concurrency.js';

/** How many instance look-ups run at once. */
const LOOKUP_CONCURRENCY = 8;
/** DICOM TimezoneOffsetFromUTC (PS3.3 C.12.1.1.8): sign, hours, minutes. */
const TIMEZONE_OFFSET = /^[+-]\d{4}$/;

/** Reads patient, study, series and instance facts of one study (by Orthanc ID). */
export async function readStudyFacts(client: OrthancClient, studyId: string): Promise<StudyFacts> {
  const study = await client.study(studyId);
  const seriesList = await client.studySeries(studyId);
  const series: SeriesFacts[] = [];
  for (const s of seriesList) {
    const [instances, shared] = await Promise.all([client.seriesInstances(s.ID), client.seriesSharedTags(s.ID)]);
    const sharedSopClass = nonEmpty(shared['SOPClassUID']);
    const facts = await mapLimit(instances, LOOKUP_CONCURRENCY, async (i): Promise<InstanceFacts> => {
      const number = Number(i.MainDicomTags['InstanceNumber']);
      return {
        orthancId: i.ID,
        sopInstanceUid: i.MainDicomTags['SOPInstanceUID'] ?? '',
        sopClassUid: sharedSopClass ?? (await client.instanceMetadata(i.ID, 'SopClassUid')) ?? '',
        ...(Number.isFinite(number) && i.MainDicomTags['InstanceNumber'] !== undefined ? { instanceNumber: number } : {}),
        ...(typeof i.FileSize === 'number' ? { fileSize: i.FileSize } : {}),
      };
    });
    facts.sort((a, b) => (a.instanceNumber ?? 0) - (b.instanceNumber ?? 0));
    const tags = s.MainDicomTags;
    series.push({
      orthancId: s.ID,
      seriesInstanceUid: tags['SeriesInstanceUID'] ?? '',
      modality: tags['Modality'] ?? '',
      ...(tags['SeriesNumber'] !== undefined ? { seriesNumber: tags['SeriesNumber'] } : {}),
      ...(tags['SeriesDescription'] !== undefined ? { seriesDescription: tags['SeriesDescription'] } : {}),
      instances: facts,
    });
  }
  const firstTags = await firstInstanceTags(client, series);
  const issuer = nonEmpty(firstTags['IssuerOfPatientID']);
  const offset = nonEmpty(firstTags['TimezoneOffsetFromUTC']);
  return {
    orthancId: study.ID,
    ...studyMainTags(study),
    // A malformed offset (no sign, "+1") would make every FHIR write fail: leave it out, the configured zone applies.
    ...(offset !== undefined && TIMEZONE_OFFSET.test(offset) ? { timezoneOffsetFromUtc: offset } : {}),
    patient: { ...patientMainTags(study), ...(issuer ? { issuerOfPatientId: issuer } : {}) },
    series,
  };
}

/** IssuerOfPatientID and TimezoneOffsetFromUTC are not among Orthanc's main tags: read them from one instance. */
async function firstInstanceTags(client: OrthancClient, series: readonly SeriesFacts[]): Promise<SimplifiedTags> {
  const first = series.find((s) => s.instances.length > 0)?.instances[0];
  return first ? client.instanceTags(first.orthancId) : {};
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}
