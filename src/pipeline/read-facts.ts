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
  let firstShared: SimplifiedTags | undefined;
  for (const s of seriesList) {
    const [instances, shared] = await Promise.all([client.seriesInstances(s.ID), client.seriesSharedTags(s.ID)]);
    if (firstShared === undefined && instances.length > 0) firstShared = shared;
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
  const firstTags = await firstInstanceTags(client, series, firstShared);
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

/** Tags read from the first instance that its series' shared tags may already answer. */
const FIRST_INSTANCE_TAGS = ['IssuerOfPatientID', 'TimezoneOffsetFromUTC'] as const;

/**
 * IssuerOfPatientID and TimezoneOffsetFromUTC are not among Orthanc's main tags: read them from one
 * instance. The first series' shared tags (read above) answer without that read (issue 17: one
 * request per study) when the series holds that one instance only (its shared tags are its tags), or
 * when they hold both tags (a shared tag has the same value in every instance, the first included).
 */
async function firstInstanceTags(client: OrthancClient, series: readonly SeriesFacts[], shared: SimplifiedTags | undefined): Promise<SimplifiedTags> {
  const holder = series.find((s) => s.instances.length > 0);
  const first = holder?.instances[0];
  if (!first) return {};
  if (shared !== undefined && (holder.instances.length === 1 || FIRST_INSTANCE_TAGS.every((t) => shared[t] !== undefined))) return shared;
  return client.instanceTags(first.orthancId);
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}
