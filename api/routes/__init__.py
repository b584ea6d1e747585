"""HTTP routes, one module per resource; handlers only translate HTTP to service calls."""
