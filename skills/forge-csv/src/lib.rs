//! The official `csv-parse` tool: the csv crate reads RFC 4180 CSV (quoted fields, doubled
//! quotes, CRLF or LF, newlines inside quotes); the first record is the header and every later
//! record becomes a JSON object keyed by it, in column order.

use hyper_sdk::prelude::*;

struct CsvParse;

impl Tool for CsvParse {
    fn info() -> ToolInfo {
        ToolInfo {
            name: "forge-csv".into(),
            version: "0.1.0".into(),
            task: "csv-parse".into(),
            description: "the csv crate: header row, records as JSON objects".into(),
        }
    }

    fn call(input: &[u8]) -> Result<Vec<u8>, Error> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(input);
        let headers = reader
            .headers()
            .map_err(|e| Error::Failed(format!("header: {e}")))?
            .clone();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| Error::Failed(format!("record: {e}")))?;
            let object: serde_json::Map<String, serde_json::Value> = headers
                .iter()
                .zip(record.iter())
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
                .collect();
            rows.push(serde_json::Value::Object(object));
        }
        serde_json::to_vec(&rows).map_err(|e| Error::Failed(format!("cannot serialise: {e}")))
    }
}

register_tool!(CsvParse);
