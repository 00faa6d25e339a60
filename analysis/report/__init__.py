"""The report: tables, LaTeX, the markdown / HTML document, the README headline, `npgbench report`."""
