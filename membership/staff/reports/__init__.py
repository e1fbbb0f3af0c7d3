"""Reports and exports: supporters, payments and memberships as CSV or XLSX, from the web and the CLI."""
