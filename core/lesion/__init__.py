"""Models that see the lesion: a dense patch classifier (seeds 000/004, after Shen et al.
2019) and seed 002's B-Cir U-Net, with the training and out-of-fold code they share."""
