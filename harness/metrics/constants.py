"""Numbers several metric definitions share."""

#: PSNR reported for identical images (MSE 0 gives +inf): finite so means and percentiles
#: stay meaningful. Any real difference gives less (one grey level on one pixel of a
#: 640x480 image is about 108 dB, so outputs that close also read as 100).
PSNR_CAP = 100.0
#: SSIM's window (scikit-image's default, 7x7): the smallest image side it can score, and so
#: the smallest image the harness scores (a smaller one is a `failed:too_small` row).
SSIM_WIN = 7
MIN_SIDE = SSIM_WIN
