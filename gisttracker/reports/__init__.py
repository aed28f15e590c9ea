"""PDF reports (reportlab): a shared base, then one module per report."""
