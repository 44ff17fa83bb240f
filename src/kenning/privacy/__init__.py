"""Privacy and security: consent, regulations (suppression, deletion), access requests,
retention, PII classification, scopes and the audit log."""
