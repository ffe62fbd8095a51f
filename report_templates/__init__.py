"""Notice templates (Jinja2 HTML + CSS) and the one module that renders them with WeasyPrint."""
