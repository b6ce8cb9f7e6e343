/** Names of the study metadata we use; they must be declared as UserMetadata in orthanc/orthanc.json. */
export const METADATA = {
  pending: 'KidneyVolumesPending',
  fhir: 'KidneyVolumes',
  status: 'KidneyVolumesStatus',
  /** Where DICOM-read measurements came from and what became of each DICOM input (issue 16). */
  inputs: 'KidneyVolumesInputs',
} as const;
