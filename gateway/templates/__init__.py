"""Jinja2 templates (package data): the 信用修复告知书 (附件2) and the reminder SMS."""
