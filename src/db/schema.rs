// The tables as diesel sees them; kept in step with `migrations/` (as `diesel print-schema`
// would write it, with 64-bit integers where SQLite's INTEGER holds them).

diesel::table! {
    sources (id) {
        id -> BigInt,
        address -> Text,
    }
}

diesel::table! {
    logs (id) {
        id -> BigInt,
        source_id -> BigInt,
        ip -> Text,
        user -> Nullable<Text>,
        date -> BigInt,
        method -> Text,
        url -> Text,
        protocol -> Text,
        code -> Integer,
        size -> Nullable<BigInt>,
        referer -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        line -> Text,
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

diesel::joinable!(logs -> sources (source_id));
diesel::joinable!(rejected_lines -> sources (source_id));
diesel::allow_tables_to_appear_in_same_query!(sources, logs, rejected_lines);
