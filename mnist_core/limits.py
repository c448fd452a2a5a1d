"""Every size limit in one place. Each input with a size is checked against these from its
header or a capped read before the work is done, so one bad file or upload cannot take a small
shared server's memory or CPU (docs/reliability.md lists the tests)."""
from __future__ import annotations

# Images: uploads on Draw, `predict` on the command line, samples in a handwriting zip.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # read at most this plus one byte from any file or stream
MAX_UPLOAD_PIXELS = 4096 * 4096  # checked from the image's header, before decoding

# IDX dataset files: MNIST holds 60,000 training images; Fashion-MNIST the same.
MAX_IDX_ITEMS = 1_000_000  # from the header, before anything is decompressed

# Handwriting zips.
MAX_ZIP_ENTRIES = 5000
MAX_ZIP_BYTES = 50 * 1024 * 1024  # uncompressed total, against zip bombs
MAX_ZIP_ENTRY_BYTES = 64 * 1024  # a 28x28 PNG is well under 1 kB
MAX_CSV_FIELD = 200  # characters in one labels.csv field
MAX_HANDWRITING_SET = 20_000  # digits in one folder (a class's server shares it): about 20 MB

# Models: see mnist_core.models.budget (MNIST_MODEL_BUDGET_MB, 300 MB by default).
