"""Spreadsheet imports: read a CSV or Excel file, map its columns, check it dry, import it as leads, undo it."""
