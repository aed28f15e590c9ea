"""Schema 8: an index behind every foreign key and every column a screen or report looks
rows up by, so that no read of one patient's or one visit's data scans a whole table.

Measured before this migration: each visit's laboratory values were a full scan of
``lab_result`` (0.7 ms per visit at 1,000 patients, 13.5 ms at 100,000), and surgery and
pathology were found by scanning for the patient, so the same casebook took five times as
long to gather at the larger site. Indexes only: no data changes.
"""

VERSION = 8

STATEMENTS = [
    # A visit's laboratory values (visit forms, casebook) and a screening's.
    "CREATE INDEX lab_result_visit ON lab_result (visit_id)",
    "CREATE INDEX lab_result_screening ON lab_result (screening_id)",
    # A visit's adverse events, and the event raised from a laboratory value.
    "CREATE INDEX adverse_event_visit ON adverse_event (visit_id)",
    "CREATE INDEX adverse_event_lab_result ON adverse_event (lab_result_id)",
    # The course tab and the casebook read these per patient, in date order.
    "CREATE INDEX surgery_patient ON surgery (patient_id, performed_on)",
    "CREATE INDEX pathology_patient ON pathology (patient_id, reported_on)",
    "CREATE INDEX pathology_surgery ON pathology (surgery_id)",
    "CREATE INDEX tumour_assessment_visit ON tumour_assessment (visit_id)",
    "CREATE INDEX treatment_interruption_exposure ON treatment_interruption (exposure_id, "
    "start_on)",
    # Schema 6's references to the protocol and form versions: the patients enrolled, the
    # forms saved, under a version are found without a scan (a version is never deleted, so
    # these serve reads, such as an audit of what was captured under which file).
    "CREATE INDEX patient_protocol_version ON patient (protocol_version_id)",
    "CREATE INDEX form_form_version ON form (form_version_id)",
    "CREATE INDEX study_protocol_version ON study_protocol (protocol_version_id)",
    # The patient list sorted by randomization number reads its first page in index order
    # (the other sort keys had theirs since schema 2).
    "CREATE INDEX patient_randomization ON patient (randomization_number, study_id)",
]
