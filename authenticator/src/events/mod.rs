//! CloudEvents 1.0 output: one JSON object per line to a file, optionally POSTed to a webhook.
