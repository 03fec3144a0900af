"""Image preparation: the named, serialisable pipeline steps (`pipeline`), the seeds'
augmentations (`augment`), regions of interest (`roi`) and map geometry (`geometry`).
"""
