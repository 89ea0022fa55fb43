-- Subscriptions and delivery: digests, quiet hours, topics (issue 4).
SELECT 1;
