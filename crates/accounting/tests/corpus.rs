//! The sample APEL and cASO messages (`corpus/`, see its SOURCES.md) read
//! as APEL reads them, their broken variants refused with the place and the
//! field named, and what nuvola writes read back as it was.

use std::path::Path;

use nuvola_accounting::accelerator::{self, AcceleratorMessage};
use nuvola_accounting::storage;
use nuvola_accounting::summarise::CloudLedger;
use nuvola_accounting::{Decimal3, Location, ParseError, Problem, cloud, cloud_summary, public_ip};

fn corpus(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A record body from APEL's tests under a message header.
fn with_header(header: &str, body: &str) -> String {
    format!("{header}\n{body}")
}

fn decimal(text: &str) -> Decimal3 {
    Decimal3::parse(text).unwrap()
}

fn line_and_field(error: &ParseError) -> (Option<usize>, Option<&str>) {
    (error.line(), error.field.as_deref())
}

#[test]
fn apels_cloud_records_read_as_apel_reads_them() {
    let body = corpus("apel_cloud_record_test_msg1.txt");
    let message = with_header("APEL-cloud-message: v0.4", &body);
    let records = cloud::parse_all(message.as_bytes()).unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r, &cloud::parse_record(&body).unwrap());
    assert_eq!(r.vm_uuid, "2012-12-04 09:15:01+00:00 CESNET vm-0");
    assert_eq!(r.machine_name.as_deref(), Some("'one-0'"));
    assert_eq!(r.global_user_name, None);
    assert_eq!(r.fqan, None);
    assert_eq!((r.start_time, r.end_time), (Some(1_318_840_264), Some(1_318_848_076)));
    assert_eq!((r.wall_duration, r.cpu_duration, r.disk), (None, None, None));
    assert_eq!((r.cpu_count, r.benchmark), (decimal("1"), decimal("1006.3")));
    assert_eq!((r.network_inbound, r.public_ip_count, r.memory), (Some(0), Some(5), Some(512)));
    assert_eq!(r.voms().vo, None);

    let body = corpus("apel_cloud_record_test_msg2.txt");
    let r = cloud::parse_record(&body).unwrap();
    let voms = r.voms();
    assert_eq!((voms.vo, voms.group.as_deref(), voms.role), (Some("ops"), Some("/ops"), Some("Role=NULL")));
    assert_eq!((r.status.as_deref(), r.end_time, r.cpu_count), (Some("started"), None, decimal("1.456")));
    assert_eq!(r.image_id.as_deref(), Some("Debian Testing (Wheezy)"));

    // "A v0.2 style message": no CloudComputeService, PublicIPCount or benchmark.
    let message = with_header("APEL-cloud-message: v0.2", &corpus("apel_cloud_record_test_msg3.txt"));
    let mut reading = cloud::parse_message(message.as_bytes()).unwrap();
    assert_eq!(reading.version(), "v0.2");
    let r = reading.next().unwrap().unwrap();
    assert_eq!((r.cloud_compute_service, r.benchmark_type, r.benchmark), (None, None, Decimal3::ZERO));
    assert_eq!(r.cpu_count, decimal("2"));
    assert!(reading.next().is_none());
}

#[test]
fn casos_cloud_message_reads_whole() {
    let message = corpus("caso_expected_message_cloud_v04.txt");
    let records = cloud::parse_all(message.as_bytes()).unwrap();
    assert_eq!(records.len(), 2);
    let (first, second) = (&records[0], &records[1]);
    assert_eq!(first.vm_uuid, "721cf1db-0e0f-4c24-a5ea-cd75e0f303e8");
    assert_eq!(first.cloud_type.as_deref(), Some("caso/{__version__} (OpenStack)"));
    assert_eq!(first.voms().vo, Some("VO 1 FQAN"));
    assert_eq!(
        (first.cpu_count, first.cpu_duration, first.wall_duration),
        (decimal("8"), Some(3_456_000), Some(432_000))
    );
    assert_eq!((second.status.as_deref(), second.end_time), (Some("completed"), Some(1_685_051_946)));
    assert_eq!(first.record_create_time, None);
    // cASO's running record is measured at start + wall: 2023-05-25, May.
    let mut ledger = CloudLedger::new();
    for record in &records {
        ledger.load(record);
    }
    let summaries = ledger.summarise().unwrap();
    assert_eq!(summaries.len(), 2);
    assert!(summaries.iter().all(|s| (s.year, s.month) == (2023, 5)), "{summaries:?}");
}

#[test]
fn broken_cloud_messages_are_refused_with_line_and_field() {
    let good = corpus("caso_expected_message_cloud_v04.txt");
    let refuse = |message: String| cloud::parse_all(message.as_bytes()).unwrap_err();

    // A missing mandatory field: named, at the first line of its record.
    let error = refuse(good.replace("SiteName: TEST-Site\nStartTime: 1684533546", "StartTime: 1684533546"));
    assert_eq!(line_and_field(&error), (Some(22), Some("SiteName")));
    assert_eq!(error.problem, Problem::Missing);
    assert_eq!(error.to_string(), "line 22, field SiteName: mandatory field is missing");
    // ... or there but NULL.
    let error = refuse(good.replacen("VMUUID: 721cf1db-0e0f-4c24-a5ea-cd75e0f303e8", "VMUUID: NULL", 1));
    assert_eq!((line_and_field(&error), error.problem.clone()), ((Some(19), Some("VMUUID")), Problem::Null));

    // A bad date.
    let error = refuse(good.replacen("StartTime: 1684619946", "StartTime: 2023-05-20 morning", 1));
    assert_eq!(line_and_field(&error), (Some(17), Some("StartTime")));
    assert_eq!(error.problem, Problem::BadDate("2023-05-20 morning".into()));
    let error = refuse(good.replacen("EndTime: 1685051946", "EndTime: 2023-02-30T00:00:00Z", 1));
    assert_eq!(line_and_field(&error), (Some(7), Some("EndTime")));

    // A wrong header version, and a wrong header.
    let error = refuse(good.replacen("v0.4", "v0.9", 1));
    assert_eq!(line_and_field(&error), (Some(1), None));
    assert_eq!(error.problem, Problem::WrongVersion { found: "v0.9".into(), accepted: "v0.2, v0.3, v0.4" });
    let error = refuse(good.replacen("APEL-cloud-message", "APEL-summary-job-message", 1));
    assert!(matches!(error.problem, Problem::WrongHeader { .. }), "{error}");

    // A word where a number belongs, a negative CPU count, an unknown field, a line that is not a field.
    let error = refuse(good.replacen("WallDuration: 432000", "WallDuration: 5 days", 1));
    assert_eq!(line_and_field(&error), (Some(20), Some("WallDuration")));
    assert_eq!(error.problem, Problem::NotAWholeNumber("5 days".into()));
    let error = refuse(good.replacen("CpuCount: 8", "CpuCount: eight", 1));
    assert_eq!(
        (line_and_field(&error), error.problem.clone()),
        ((Some(4), Some("CpuCount")), Problem::NotANumber("eight".into()))
    );
    let error = refuse(good.replacen("CpuCount: 8", "CpuCount: -8", 1));
    assert!(matches!(error.problem, Problem::OutOfRange { .. }), "{error}");
    let error = refuse(good.replacen("Disk: 250", "Disks: 250", 1));
    assert_eq!((line_and_field(&error), error.problem.clone()), ((Some(6), Some("Disks")), Problem::UnknownField));
    let error = refuse(good.replacen("Disk: 250", "Disk 250", 1));
    assert_eq!((error.line(), error.problem), (Some(6), Problem::NotKeyValue));
}

#[test]
fn the_cloud_summary_message_is_rewritten_byte_for_byte() {
    let message = with_header("APEL-cloud-summary-message: v0.4", &corpus("apel_cloud_summary_test_msg1.txt"));
    let summaries = cloud_summary::parse_all(message.as_bytes()).unwrap();
    assert_eq!(summaries.len(), 1);
    let s = &summaries[0];
    assert_eq!((s.month, s.year, s.number_of_vms), (10, 2011, 1));
    assert_eq!(
        (s.vo.as_deref(), s.vo_group.as_deref(), s.vo_role.as_deref()),
        (Some("ops"), Some("/ops"), Some("Role=NULL"))
    );
    assert_eq!((s.wall_duration, s.disk, s.memory), (None, None, Some(512)));
    assert_eq!((s.cpu_count, s.benchmark), (Some(decimal("4")), Some(decimal("1006.3"))));
    assert_eq!(s.earliest_start_time, Some(1_318_840_264));
    let written = cloud_summary::write_message(&summaries).unwrap();
    assert_eq!(written, format!("{message}%%\n"));
}

#[test]
fn broken_cloud_summaries_are_refused_with_line_and_field() {
    let good = with_header("APEL-cloud-summary-message: v0.4", &corpus("apel_cloud_summary_test_msg1.txt"));
    let refuse = |message: String| cloud_summary::parse_all(message.as_bytes()).unwrap_err();
    let error = refuse(good.replace("NumberOfVMs: 1\n", ""));
    assert_eq!((line_and_field(&error), error.problem.clone()), ((Some(2), Some("NumberOfVMs")), Problem::Missing));
    let error = refuse(good.replace("Year: 2011", "Year: None"));
    assert_eq!((line_and_field(&error), error.problem.clone()), ((Some(5), Some("Year")), Problem::Null));
    let error = refuse(good.replace("EarliestStartTime: 1318840264", "EarliestStartTime: soon"));
    assert_eq!(
        (line_and_field(&error), error.problem.clone()),
        ((Some(13), Some("EarliestStartTime")), Problem::BadDate("soon".into()))
    );
    let error = refuse(good.replace("v0.4", "v1.0"));
    assert!(matches!(error.problem, Problem::WrongVersion { .. }) && error.line() == Some(1), "{error}");
}

#[test]
fn cloud_records_and_summaries_read_back_as_written() {
    let message = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apel-generator/sample-n2000/messages/msg-0000001.apel"),
    )
    .unwrap();
    let records = cloud::parse_all(&message).unwrap();
    let caso = corpus("caso_expected_message_cloud_v04.txt");
    let mut more = cloud::parse_all(caso.as_bytes()).unwrap();
    more.push(cloud::parse_record(&corpus("apel_cloud_record_test_msg1.txt")).unwrap().into_owned());
    let all: Vec<_> = records.iter().chain(&more).cloned().collect();
    let written = cloud::write_message(&all).unwrap();
    assert!(
        written.starts_with("APEL-cloud-message: v0.4\nRecordCreateTime: ")
            || written.starts_with("APEL-cloud-message: v0.4\nVMUUID: ")
    );
    assert_eq!(cloud::parse_all(written.as_bytes()).unwrap(), all);

    let mut ledger = CloudLedger::new();
    for record in &all {
        ledger.load(record);
    }
    let summaries = ledger.summarise().unwrap();
    assert!(summaries.len() > 50, "{}", summaries.len());
    let written = cloud_summary::write_message(&summaries).unwrap();
    assert_eq!(cloud_summary::parse_all(written.as_bytes()).unwrap(), summaries);
    // Written again, the same bytes.
    assert_eq!(cloud_summary::write_message(&cloud_summary::parse_all(written.as_bytes()).unwrap()).unwrap(), written);
}

#[test]
fn apels_accelerator_texts_read_and_summaries_read_back_as_written() {
    let record = accelerator::parse_record(&corpus("apel_accelerator_record_test_msg1.txt")).unwrap();
    assert_eq!((record.measurement_month, record.measurement_year), (12, 2021));
    assert_eq!((record.associated_record_type.as_str(), record.associated_record.as_str()), ("cloud", "UUIDx"));
    assert_eq!((record.count, record.cores, record.available_duration), (decimal("604800"), Some(857), 326_057));
    assert_eq!((record.accelerator_type.as_str(), record.model.as_deref()), ("Accelerator", Some("HS About")));
    let message = with_header("APEL-accelerator-message", &corpus("apel_accelerator_record_test_msg1.txt"));
    assert_eq!(accelerator::parse_records_text(message.as_bytes()).unwrap(), vec![record]);

    let body = corpus("apel_accelerator_summary_test_msg1.txt");
    let summary = accelerator::parse_summary(&body).unwrap();
    assert_eq!((summary.number_of_records, summary.benchmark), (1000, Some(decimal("326"))));
    let summaries = vec![summary.clone(), accelerator::AcceleratorSummary { model: None, cores: None, ..summary }];
    let text = accelerator::write_summaries_text(&summaries).unwrap();
    assert!(text.starts_with("APEL-accelerator-summary-message\nMonth: 12\nYear: 2021\n"), "{text}");
    assert!(text.contains("\nCount: 604800.0\nCores: 857\n"), "{text}");
    assert_eq!(accelerator::parse_summaries_text(text.as_bytes()).unwrap(), summaries);
    let json = accelerator::write_summaries_json(&summaries);
    assert_eq!(accelerator::parse_json(json.as_bytes()), Err(refused_type(&json)));
    let json = json.replace("\"Type\":\"Accelerator\"", "\"Type\":\"GPU\"");
    let read_back = accelerator::parse_json(json.as_bytes()).unwrap();
    let gpu: Vec<_> = summaries
        .iter()
        .map(|s| accelerator::AcceleratorSummary { accelerator_type: "GPU".into(), ..s.clone() })
        .collect();
    assert_eq!(read_back, AcceleratorMessage::Summaries(gpu));
}

/// APEL's JSON schema allows only GPU, FPGA and Other as types.
fn refused_type(json: &str) -> ParseError {
    assert!(json.contains("\"Type\":\"Accelerator\""));
    ParseError {
        location: Location::Json("UsageRecords[0]".into()),
        field: Some("Type".into()),
        problem: Problem::NotOneOf { value: "Accelerator".into(), allowed: "GPU, FPGA, Other".into() },
    }
}

#[test]
fn casos_accelerator_and_public_ip_messages_read_and_broken_ones_are_refused() {
    let message = corpus("caso_expected_message_accelerator_v01.json");
    let AcceleratorMessage::Records(records) = accelerator::parse_json(message.as_bytes()).unwrap() else {
        panic!("records expected");
    };
    assert_eq!(records.len(), 2);
    assert_eq!((records[0].count, records[1].count), (decimal("3"), decimal("30")));
    assert_eq!((records[1].measurement_month, records[1].model.as_deref()), (2, Some("Foobar A300")));
    assert_eq!(records[0].cloud_compute_service.as_deref(), Some("Fake Cloud Service"));
    assert_eq!(records[0].active_duration, Some(5000));

    let refuse = |message: String| accelerator::parse_json(message.as_bytes()).unwrap_err();
    let error = refuse(message.replacen("\"Count\": 3, ", "", 1));
    assert_eq!(error.to_string(), "at UsageRecords[0], field Count: mandatory field is missing");
    let error = refuse(message.replacen("\"Count\": 30", "\"Count\": \"thirty\"", 1));
    assert_eq!(error.to_string(), "at UsageRecords[1], field Count: expected a number, found a string");
    let error = refuse(message.replacen("\"MeasurementMonth\": 6", "\"MeasurementMonth\": 13", 1));
    assert_eq!(error.to_string(), "at UsageRecords[0], field MeasurementMonth: 13 is out of range (1 to 12)");
    let error = refuse(message.replacen("\"Version\": \"0.1\"", "\"Version\": \"0.2\"", 1));
    assert_eq!((error.field.as_deref(), &error.location), (Some("Version"), &Location::Json("$".into())));
    let error = refuse(message.replacen("\"Model\"", "\"Modle\"", 1));
    assert_eq!((error.field.as_deref(), error.problem), (Some("Modle"), Problem::UnknownField));
    let error = refuse(message.replacen("}]}", "}", 1));
    assert!(matches!(error.problem, Problem::Syntax(_)) && error.line() == Some(2), "{error}");

    let message = corpus("caso_expected_message_ip_v02.json");
    let records = public_ip::parse_json(message.as_bytes()).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!((records[0].ip_version, records[0].ip_count, records[1].ip_version), (4, 10, 6));
    assert_eq!((records[0].measurement_time, records[0].year_month()), (1_685_051_946, (2023, 5)));
    assert_eq!(records[1].uuid.as_deref(), Some("5c50720e-a653-4d70-9b0e-d4388687fcbc"));
    assert_eq!(records[1].voms().vo, Some("VO 2 FQAN"));
    let refuse = |message: String| public_ip::parse_json(message.as_bytes()).unwrap_err();
    let error = refuse(message.replacen("\"MeasurementTime\": 1685051946", "\"MeasurementTime\": \"last tuesday\"", 1));
    assert_eq!(error.to_string().split(':').next(), Some("at UsageRecords[0], field MeasurementTime"));
    assert_eq!(error.problem, Problem::BadDate("last tuesday".into()));
    let error = refuse(message.replacen("\"SiteName\": \"TEST-Site\", ", "", 2));
    assert_eq!((error.location, error.problem), (Location::Json("UsageRecords[0]".into()), Problem::Missing));
    let error = refuse(message.replacen("\"Version\": \"0.2\"", "\"Version\": \"0.1\"", 1));
    assert!(matches!(error.problem, Problem::WrongVersion { .. }), "{error}");
    let error = refuse(message.replacen("\"IPCount\": 20", "\"IPCount\": 2.5", 1));
    assert_eq!(error.to_string(), "at UsageRecords[1], field IPCount: \"2.5\" is not a whole number");
}

#[test]
fn star_storage_records_read_as_apel_reads_them() {
    let records = storage::parse_all(corpus("apel_star_test_star1.xml").as_bytes()).unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!((r.record_id.as_str(), r.create_time), ("desycerttb_cms_disk_20121030T172004Z", 1_351_617_604));
    assert_eq!(
        (r.storage_system.as_str(), r.site.as_deref(), r.group.as_deref()),
        ("discordia.desy.de", Some("desycerttb"), Some("cms"))
    );
    assert_eq!((r.file_count, r.resource_capacity_used, r.start_time), (Some(5), 693_064_064, 1_351_617_004));
    assert_eq!(storage::parse_all(corpus("apel_star_test_star2.xml").as_bytes()).unwrap()[0].file_count, Some(163));

    // The StAR document's own example: a lone record, a sub-group.
    let records = storage::parse_all(corpus("apel_star_test_star3.xml").as_bytes()).unwrap();
    let r = &records[0];
    assert_eq!(
        (r.storage_share.as_deref(), r.sub_group.as_deref(), r.role.as_deref()),
        (Some("pool-003"), Some("ukusers"), None)
    );
    assert_eq!((r.resource_capacity_used, r.logical_capacity_used), (14_728, Some(13_617)));
    assert!(r.group_attributes.is_empty());

    // cASO's volumes: two records on one line, times with a zone, capacities beyond 2^64.
    let records = storage::parse_all(corpus("caso_expected_message_storage_star.xml").as_bytes()).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].resource_capacity_used, 345_876_451_382_054_092_800);
    assert_eq!(
        (records[1].user_identity.as_deref(), records[1].group.as_deref()),
        (Some("d4e547e6f298fe34389@foobar.eu"), Some("VO 2 FQAN"))
    );
    assert_eq!(
        (records[1].local_user.as_deref(), records[1].start_time),
        (Some("63296dcd-b652-4039-b274-aaa70f9d57e5"), 1_684_533_546)
    );
}

#[test]
fn broken_star_records_are_refused_with_element_and_field() {
    let good = corpus("apel_star_test_star3.xml");
    let refuse = |message: String| storage::parse_all(message.as_bytes()).unwrap_err();
    let error = refuse(good.replace("    <sr:StorageSystem>host.example.org</sr:StorageSystem>\n", ""));
    assert_eq!(
        error.to_string(),
        "line 1, element StorageUsageRecord[1], field StorageSystem: mandatory field is missing"
    );
    let error = refuse(good.replace("2010-10-12T09:29:42Z", "12 October 2010"));
    assert_eq!(
        (&error.location, error.field.as_deref()),
        (&Location::Xml { path: "StorageUsageRecord[1]/EndTime".into(), line: 15 }, Some("EndTime"))
    );
    assert_eq!(error.problem, Problem::BadDate("12 October 2010".into()));
    let error = refuse(good.replace("<sr:FileCount>42<", "<sr:FileCount>many<"));
    assert_eq!((error.line(), error.problem), (Some(13), Problem::NotAWholeNumber("many".into())));
    let error = refuse(good.replace("sr:createTime=\"2010-11-09T09:06:52Z\"", ""));
    assert_eq!((error.line(), error.field.as_deref()), (Some(3), Some("createTime")));
    // Not StAR's namespace, and not XML.
    let error = refuse(good.replace("2011/02/storagerecord", "2012/11/computerecord"));
    assert!(matches!(error.problem, Problem::Syntax(_)) && error.line() == Some(1), "{error}");
    let error = refuse(good.replace("</sr:Site>", "</sr:Sight>"));
    assert_eq!((error.line(), matches!(error.problem, Problem::Syntax(_))), (Some(6), true), "{error}");
}

#[test]
fn every_sample_is_told_apart_and_reads_whole() {
    use nuvola_accounting::message::{self, Message};
    let cases = [
        ("apel_cloud_record_test_msg1.txt", "APEL-cloud-message: v0.4\n", "cloud", 1),
        ("apel_cloud_record_test_msg3.txt", "APEL-cloud-message: v0.2\n", "cloud", 1),
        ("caso_expected_message_cloud_v04.txt", "", "cloud", 2),
        ("apel_cloud_summary_test_msg1.txt", "APEL-cloud-summary-message: v0.4\n", "cloud summaries", 1),
        ("apel_accelerator_record_test_msg1.txt", "APEL-accelerator-message\n", "accelerators", 1),
        (
            "apel_accelerator_summary_test_msg1.txt",
            "APEL-accelerator-summary-message: v0.1\n",
            "accelerator summaries",
            1,
        ),
        ("caso_expected_message_accelerator_v01.json", "", "accelerators", 2),
        ("caso_expected_message_ip_v02.json", "", "public IPs", 2),
        ("apel_star_test_star1.xml", "", "storage", 1),
        ("apel_star_test_star3.xml", "", "storage", 1),
        ("caso_expected_message_storage_star.xml", "", "storage", 2),
    ];
    for (file, header, want, count) in cases {
        let text = format!("{header}{}", corpus(file));
        let read = message::read(text.as_bytes()).unwrap_or_else(|e| panic!("{file}: {e}"));
        let (kind, records) = match read {
            Message::CloudRecords(records) => {
                ("cloud", records.map(|r| r.map(drop)).collect::<Result<Vec<_>, _>>().unwrap().len())
            }
            Message::CloudSummaries(summaries) => {
                ("cloud summaries", summaries.collect::<Result<Vec<_>, _>>().unwrap().len())
            }
            Message::AcceleratorRecords(records) => ("accelerators", records.len()),
            Message::AcceleratorSummaries(summaries) => ("accelerator summaries", summaries.len()),
            Message::PublicIps(records) => ("public IPs", records.len()),
            Message::Storage(records) => ("storage", records.collect::<Result<Vec<_>, _>>().unwrap().len()),
        };
        assert_eq!((kind, records), (want, count), "{file}");
    }
}
