/** SOP classes that more than one part of the code names: the SR writer references them, readers check them. */

/** Segmentation Storage (PS3.4 Annex B.5). Label-map SEGs (…66.7) are a different class and are not read. */
export const SEGMENTATION_SOP_CLASS_UID = '1.2.840.10008.5.1.4.1.1.66.4';
