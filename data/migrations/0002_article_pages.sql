-- Article pages: extracted text, metadata, "Read also" links, and recorded changes (issue 3).
SELECT 1;
