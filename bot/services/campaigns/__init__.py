"""The owner's broadcasts and what they bring: audience filters, the broadcast text and its
checks, launching, enrolment with the holdout, and the campaign report.
May use: the kernel, outbox, people, money and counter."""
