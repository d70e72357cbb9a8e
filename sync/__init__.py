"""School Data Sync: Clever-format rosters kept in step with Microsoft Entra ID / Microsoft 365."""

import os
import sys

# Arrow's jemalloc (the pool validation reads and checks with) gets one arena per CPU instead of one per
# thread. The parser's threads free raw columns that the checks' threads then allocate again; with arenas
# per thread that memory is never reused, and every new buffer faults fresh pages in (district XL: about
# 70,000 more page faults and 0.2-0.3 s more system time). jemalloc reads this once, when pyarrow loads it:
# so it is set only before pyarrow is loaded, and never over a value the operator chose.
if sys.platform == "linux" and "pyarrow" not in sys.modules:
    os.environ.setdefault("JE_ARROW_MALLOC_CONF", "percpu_arena:percpu")
