export const HELP = `tabpfn-jobs: the tabpfn-jobs API from the command line

Usage:
  tabpfn-jobs setup --token <TabPFN token> [--key-name <name>] [--no-save]
  tabpfn-jobs fit <train.csv> --target <column> [--task classification|regression] [--model <name>] [--description <text>]
  tabpfn-jobs predict <model_id> <test.csv> [--output out.csv] [--format csv|ndjson|json]
                      [--output-type preds|probas|mean|median|mode|quantiles] [--allow-partial]
  tabpfn-jobs jobs list [--status <s>] [--type fit|predict] [--model <id>] [--limit <n>]
  tabpfn-jobs jobs show <job_id>
  tabpfn-jobs jobs result <job_id> [--output <file>] [--format csv|ndjson|json]
  tabpfn-jobs jobs cancel <job_id>
  tabpfn-jobs models list [--status pending|ready|failed] [--limit <n>]
  tabpfn-jobs models show <model_id>
  tabpfn-jobs models delete <model_id>
  tabpfn-jobs webhooks secret [show|rotate]
  tabpfn-jobs webhooks deliveries [<job_id>] [--status pending|delivered|failed] [--model <id>] [--limit <n>]
  tabpfn-jobs webhooks redeliver <job_id> [--delivery <msg_id>]
  tabpfn-jobs usage

Options:
  --url <url>              API URL (env TABPFN_JOBS_URL; default http://localhost:3000)
  --api-key <key>          API key (env TABPFN_JOBS_API_KEY; or the one \`setup\` saved)
  --json                   machine-readable output on stdout
  --no-wait                fit/predict: return once the job is queued
  --timeout <s>            fit/predict: stop waiting after this many seconds
  -o, --output <file>      predict, jobs result: write the result to this file (streamed, any size)
  --format <f>             predict, jobs result: the result as csv (one line per row), ndjson (one JSON
                           object per row) or json (one document); default: --output's extension
                           (.csv, .ndjson/.jsonl, .json), else csv
  --allow-partial          predict: if a large (chunked) predict fails, keep the rows of the chunks
                           that finished; they are written to --output (missing rows empty/null), exit 1
  --webhook-url <url>      fit/predict: send the job's events to this URL (signed; see \`webhooks secret\`)
  --webhook-events <list>  fit/predict: which events, comma-separated
                           (job.started,job.succeeded,job.failed,job.canceled; default: the final ones)
  -q, --quiet              no progress on stderr
  -h, --help               this help

webhooks secret shows the account's signing secret; \`rotate\` makes a new one (the old one keeps
signing alongside it for a while). webhooks deliveries lists one job's deliveries with their
attempts, or without <job_id> those of the newest jobs that have a webhook (up to --limit, default 50).

predict takes a CSV of any size (up to the API's row limit): the file is streamed from disk, never
read into memory. A predict larger than one upstream call runs as chunks; progress then shows them
(\`predicting: chunk 7/20, 70,000/200,000 rows\`). The result is streamed to --output, or to stdout
without it; with --json and no --output the job is printed with its result (held in memory: prefer
--output for large ones). \`jobs result\` fetches a finished predict's result again (e.g. after --no-wait).

Relative paths are read from (and --output written to) the directory you run the command in.
Progress (stage, chunks, elapsed time) goes to stderr, updated in place on a terminal, one line per
change otherwise; results to stdout.
Exit codes: 0 ok, 1 API error or failed job, 2 usage error (including a file that cannot be read).`;
