//! Any query string, to every endpoint's parameter parser: none panics, and every refusal is a
//! 400 naming the parameter at fault.
#![no_main]

use actix_web::ResponseError;
use libfuzzer_sys::fuzz_target;
use loggerator::http::error::ApiError;
use loggerator::http::params::{
    count_params, list_params, push_params, rejected_params, sources_params, stats_params,
    tail_params,
};

fn refused_well(error: ApiError) {
    assert_eq!(error.status_code().as_u16(), 400, "{error}");
    match error {
        ApiError::BadParameter { parameter, message } => {
            assert!(!parameter.is_empty() && !message.is_empty())
        }
        other => panic!("not a bad parameter: {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let errors = [
        list_params(query, None).err(),
        list_params(query, Some("application/x-ndjson")).err(),
        count_params(query).err(),
        stats_params(query).err(),
        tail_params(query, Some(query)).err(),
        push_params(query).err(),
        rejected_params(query).err(),
        sources_params(query).err(),
    ];
    errors.into_iter().flatten().for_each(refused_well);
});
