// The tables as diesel sees them; kept in step with `migrations/` (as `diesel print-schema`
// would write it, with 64-bit integers where SQLite's INTEGER holds them).

diesel::table! {
    sources (id) {
        id -> BigInt,
        address -> Text,
        stream_fingerprint -> Nullable<Binary>,
        stream_position -> BigInt,
        lines_stored -> BigInt,
        lines_rejected -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        name -> Text,
    }
}

diesel::table! {
    methods (id) {
        id -> BigInt,
        name -> Text,
    }
}

diesel::table! {
    log_lines (id) {
        id -> BigInt,
        source_id -> BigInt,
        line -> Text,
    }
}

diesel::table! {
    log_keys (segment, date, id) {
        segment -> BigInt,
        date -> BigInt,
        id -> BigInt,
        code -> Integer,
        method_id -> BigInt,
        user_id -> BigInt,
        source_id -> BigInt,
        size -> BigInt,
        ip -> Nullable<Binary>,
    }
}

diesel::table! {
    hot_segments (id) {
        id -> BigInt,
        rows -> BigInt,
        min_date -> BigInt,
        max_date -> BigInt,
        received_from -> BigInt,
        received_until -> BigInt,
    }
}

diesel::table! {
    keyed_streams (source_id, key) {
        source_id -> BigInt,
        key -> Text,
        fingerprint -> Binary,
        position -> BigInt,
        updated_at -> BigInt,
        last_line_id -> BigInt,
        last_rejected_id -> BigInt,
    }
}

diesel::table! {
    day_counts (day, source_id, code, method_id, user_id) {
        day -> BigInt,
        source_id -> BigInt,
        code -> Integer,
        method_id -> BigInt,
        user_id -> BigInt,
        n -> BigInt,
        bytes -> BigInt,
    }
}

diesel::table! {
    hour_counts (hour, source_id, code) {
        hour -> BigInt,
        source_id -> BigInt,
        code -> Integer,
        n -> BigInt,
        bytes -> BigInt,
    }
}

diesel::table! {
    key_counts (source_id, code, method_id, user_id) {
        source_id -> BigInt,
        code -> Integer,
        method_id -> BigInt,
        user_id -> BigInt,
        n -> BigInt,
        bytes -> BigInt,
    }
}

diesel::table! {
    rejected_lines (id) {
        id -> BigInt,
        source_id -> BigInt,
        received_at -> BigInt,
        line -> Binary,
        reason -> Text,
    }
}

diesel::table! {
    store_state (id) {
        id -> BigInt,
        last_line_id -> BigInt,
        open_segment -> BigInt,
        compacted_through -> BigInt,
    }
}

diesel::table! {
    parts (id) {
        id -> BigInt,
        state -> Integer,
        rows -> BigInt,
        min_id -> BigInt,
        max_id -> BigInt,
        received_from -> BigInt,
        received_until -> BigInt,
        raw_bytes -> BigInt,
        stored_bytes -> BigInt,
    }
}

diesel::table! {
    blocks (id) {
        id -> BigInt,
        part -> BigInt,
        rows -> BigInt,
        min_date -> BigInt,
        min_id -> BigInt,
        max_date -> BigInt,
        max_id -> BigInt,
        low_id -> BigInt,
        high_id -> BigInt,
        synopsis -> Binary,
    }
}

diesel::table! {
    block_data (block) {
        block -> BigInt,
        keys -> Binary,
        lines -> Binary,
    }
}

diesel::table! {
    block_grams (block) {
        block -> BigInt,
        grams -> Binary,
    }
}

diesel::table! {
    retired_segments (id) {
        id -> BigInt,
        min_id -> BigInt,
        max_id -> BigInt,
    }
}

diesel::table! {
    line_dicts (id) {
        id -> BigInt,
        dict -> Binary,
        trained_at -> BigInt,
    }
}

diesel::joinable!(log_lines -> sources (source_id));
diesel::joinable!(rejected_lines -> sources (source_id));
diesel::allow_tables_to_appear_in_same_query!(
    sources,
    users,
    methods,
    log_lines,
    log_keys,
    hot_segments,
    store_state,
    parts,
    blocks,
    block_data,
    block_grams,
    line_dicts,
    retired_segments,
    day_counts,
    hour_counts,
    key_counts,
    keyed_streams,
    rejected_lines
);
