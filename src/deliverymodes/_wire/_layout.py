"""The byte layouts of frame headers and bodies, shared by the encoder and the decoder.

Every frame is ``length:u32 kind:u8 body``, big-endian, where ``length`` counts the kind byte and
the body.
"""

from __future__ import annotations

import struct

U16 = struct.Struct(">H")
U32 = struct.Struct(">I")
HEADER = struct.Struct(">IB")
MESSAGE = struct.Struct(">QdII")
POLL_TAIL = struct.Struct(">qQqq")  # cursor, epoch, max_messages, max_bytes
BATCH = struct.Struct(">IQQQBB")  # request, epoch, cursor, missed, flags, reason
CLOSED_FLAG, MISSED_UNKNOWN_FLAG = 1, 2
PUBLISHED = struct.Struct(">IQId")
SUBSCRIBE_TAIL = struct.Struct(">IBI")
END = struct.Struct(">IB")
ERROR = struct.Struct(">IH")
WELCOME = struct.Struct(">HI")
PAIR = struct.Struct(">II")
LONG_POLL_TAIL = struct.Struct(">qQqqqqq")  # cursor, epoch, then the five settings
SUBSCRIBED = struct.Struct(">IIQQ")
