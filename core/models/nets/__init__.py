"""The networks themselves: the dense patch net and Shen's map top, the B-Cir U-Net, the
Keras graphs, and the score rules that turn a map into an image score.
"""
