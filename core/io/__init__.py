"""Reading mammograms: one entry point (`reader.read_image`), one error type, the trust boundary."""
