/** Names of the study metadata we use; they must be declared as UserMetadata in orthanc/orthanc.json. */
export const METADATA = {
  pending: 'KidneyVolumesPending',
  fhir: 'KidneyVolumes',
  status: 'KidneyVolumesStatus',
} as const;
