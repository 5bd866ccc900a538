"""What the owner learns: the scoring job and its SQL aggregates, KPIs and /stats,
satisfaction (CSAT) and /segments.
May use: the kernel, outbox, people, money and counter."""
