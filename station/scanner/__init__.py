"""Camera capture and replay, and the QR decoding pipeline that turns frames into stamp URLs."""
