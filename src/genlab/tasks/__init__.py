"""Tasks reuse trained models without retraining.

:mod:`genlab.tasks.inpaint` fills the unknown pixels of images with a trained DDPM, PixelCNN or
VAE; :mod:`genlab.tasks.masks` makes the masks it takes.
"""
