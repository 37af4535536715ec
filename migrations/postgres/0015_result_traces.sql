-- Node traces and retrieval (issue #12): what a chatflow or workflow ran on the way to an answer
-- (nodes with status, elapsed time, tokens, price, error and a bounded output preview), the tools
-- an agent called and the chunks retrieved — one compact JSON document per result, NULL when Dify
-- reported none. Read with the result's detail, never aggregated, so it needs no index.
ALTER TABLE results ADD COLUMN trace TEXT;
