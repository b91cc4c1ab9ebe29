"""The desktop console (PySide6 + qasync). The only package that imports Qt."""
