// The parts of dcmjs (which ships no types) that src/dicom/part10.ts uses.
declare module 'dcmjs' {
  /** One element of a denaturalized dataset: VR and values (BulkData elements hold ArrayBuffers). */
  export interface DicomElement {
    vr: string;
    Value: unknown[];
    InlineBinary?: string;
  }
  /** A denaturalized dataset keyed by 8-digit hex tags. */
  export type DicomDataset = Record<string, DicomElement>;

  export namespace data {
    class DicomDict {
      constructor(meta: DicomDataset);
      meta: DicomDataset;
      dict: DicomDataset;
      upsertTag(tag: string, vr: string, values: unknown[]): void;
      write(options?: { allowInvalidVRLength?: boolean; fragmentMultiframe?: boolean }): ArrayBuffer;
    }
    const DicomMessage: {
      readFile(
        buffer: ArrayBuffer,
        options?: { ignoreErrors?: boolean; untilTag?: string | null; includeUntilTagValue?: boolean; noCopy?: boolean; forceStoreRaw?: boolean },
      ): DicomDict;
    };
    const DicomMetaDictionary: {
      naturalizeDataset(dataset: DicomDataset): Record<string, unknown>;
      denaturalizeDataset(dataset: Record<string, unknown>): DicomDataset;
    };
  }
  const dcmjs: { data: typeof data };
  export default dcmjs;
}
