/** Shapes of the Orthanc REST answers we use (Orthanc 1.10+; fields we do not read are left out). */

/** GET /system */
export interface OrthancSystem {
  readonly Version: string;
  readonly ApiVersion: number;
  readonly DatabaseVersion: number;
  readonly Name: string;
  readonly DicomAet: string;
  /** 1.12 and later: true when this Orthanc stores labels (absent on 1.10). */
  readonly HasLabels?: boolean;
  /** 1.12.5 and later: HasExtendedFind means /tools/find takes MetadataQuery (absent before). */
  readonly Capabilities?: { readonly HasExtendedFind?: boolean; readonly HasExtendedChanges?: boolean };
}

/** Main DICOM tags as Orthanc keeps them for a resource level. */
export type MainDicomTags = Readonly<Record<string, string>>;

/** GET /studies/{id} */
export interface OrthancStudy {
  readonly ID: string;
  readonly MainDicomTags: MainDicomTags;
  readonly PatientMainDicomTags: MainDicomTags;
  readonly Series: readonly string[];
  readonly ParentPatient: string;
  readonly IsStable?: boolean;
  readonly LastUpdate?: string;
}

/** GET /series/{id} */
export interface OrthancSeries {
  readonly ID: string;
  readonly MainDicomTags: MainDicomTags;
  readonly Instances: readonly string[];
  readonly ParentStudy: string;
  readonly IsStable?: boolean;
}

/** GET /instances/{id} */
export interface OrthancInstance {
  readonly ID: string;
  readonly MainDicomTags: MainDicomTags;
  readonly ParentSeries: string;
  readonly FileSize?: number;
  readonly IndexInSeries?: number;
}

/** POST /instances */
export interface UploadResult {
  readonly ID: string;
  readonly Status: 'Success' | 'AlreadyStored' | string;
  readonly ParentStudy: string;
  readonly ParentSeries: string;
  readonly ParentPatient: string;
  readonly Path: string;
}

/** One row of GET /changes */
export interface OrthancChange {
  readonly ChangeType: string;
  readonly ResourceType: 'Patient' | 'Study' | 'Series' | 'Instance' | string;
  readonly ID: string;
  readonly Path: string;
  readonly Seq: number;
  readonly Date: string;
}

/** GET /changes */
export interface OrthancChanges {
  readonly Changes: readonly OrthancChange[];
  readonly Done: boolean;
  readonly Last: number;
}

/** One row of POST /tools/lookup */
export interface LookupResult {
  readonly ID: string;
  readonly Path: string;
  readonly Type: 'Patient' | 'Study' | 'Series' | 'Instance' | string;
}

/** A metadata value with the revision Orthanc gave it (ETag), for compare-and-set writes. */
export interface Revisioned {
  readonly value: string;
  readonly etag?: string;
}

/** Simplified tags (GET /instances/{id}/simplified-tags): keyword to string or nested sequences. */
export type SimplifiedTags = Readonly<Record<string, unknown>>;

/** POST /modalities/{name}/store with Synchronous (checked on Orthanc 1.10.1). */
export interface ModalityStoreResult {
  readonly Description: string;
  readonly LocalAet: string;
  readonly RemoteAet: string;
  readonly ParentResources: readonly string[];
  /** Instances sent; a resource listed twice (an instance and its series) counts twice. */
  readonly InstancesCount: number;
  readonly FailedInstancesCount: number;
}
