# server/: pelmapd (libmicrohttpd + SQLite + cJSON).  Filled by the job-service work.
