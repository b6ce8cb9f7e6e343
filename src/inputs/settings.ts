/** Settings of the DICOM inputs (issue 16): KV_VENDOR_SR and KV_LEGACY_TAGS, switched like KV_SEGMENTATION. */
import { DEFAULT_DEVICE_NAME } from '../dicom/sr/document.js';
import { stableUid } from '../uids.js';

/** What the DICOM input triggers need to know. */
export interface DicomInputSettings {
  /** False: TID 1500 SRs from other systems are not read (KV_VENDOR_SR=off). */
  readonly vendorSr: boolean;
  /** False: the original tool's private block in images is not read (KV_LEGACY_TAGS=off). */
  readonly legacyTags: boolean;
  /** Device Observer UIDs of our own reports, which are never input. */
  readonly ownDeviceObserverUids: readonly string[];
}

/**
 * Our SR writer's Device Observer UID under a UID root, and without one: a report written before
 * KV_UID_ROOT was set (or changed) is ours too.
 */
export function ownDeviceObserverUids(uidRoot: string | undefined): string[] {
  const uids = [stableUid(undefined, 'device-observer', DEFAULT_DEVICE_NAME)];
  if (uidRoot !== undefined) uids.push(stableUid(uidRoot, 'device-observer', DEFAULT_DEVICE_NAME));
  return uids;
}

/** Both sources on. */
export function defaultDicomInputSettings(uidRoot?: string): DicomInputSettings {
  return { vendorSr: true, legacyTags: true, ownDeviceObserverUids: ownDeviceObserverUids(uidRoot) };
}
