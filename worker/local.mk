# worker/: pelmap-worker (libuv).  Filled by the job-service work.
