"""DICOM slices written with pydicom for the tests (one helper, shared by the test modules)."""
from __future__ import annotations

import io

import numpy as np


def dicom_slice(pix: np.ndarray, z: float, *, pixel_spacing, origin_xy=(-5.0, 7.0),
                slope=None, intercept=None) -> bytes:
    """One axial CT slice as the bytes of a DICOM file.

    ``pix``: (rows, columns) uint8 (unsigned 8 bits) or int16 (signed 16 bits) values;
    ``z``: ImagePositionPatient z (mm); ``pixel_spacing``: (rows, columns) mm;
    ``origin_xy``: ImagePositionPatient x, y (mm); ``slope``, ``intercept``: RescaleSlope
    and RescaleIntercept (both, or neither).
    """
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.Rows, ds.Columns = pix.shape
    ds.PixelSpacing = [str(pixel_spacing[0]), str(pixel_spacing[1])]
    ds.ImagePositionPatient = [f"{origin_xy[0]:g}", f"{origin_xy[1]:g}", str(z)]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    if pix.dtype == np.int16:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    else:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = str(slope), str(intercept)
    ds.PixelData = np.ascontiguousarray(pix).tobytes()
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()
