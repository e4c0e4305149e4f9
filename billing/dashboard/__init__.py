"""The customer dashboard: server-rendered pages, the dashboard/staff APIs and admin reports.

Reads go through `selectors.py`, the few writes (preferences, profile) through `services.py`;
other developers' pieces (payment methods, invoice PDFs, lifecycle actions, the pay-now page)
are found at run time through `integrations.py`, so the dashboard degrades instead of failing.
"""
