"""Pydantic models of the HTTP API's request and response bodies, one module per resource,
named by role (IssueCreate, IssueTransition, ZoneForm, UserUpdate …); routes import them from
here."""
