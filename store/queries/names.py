"""The names staff see for values the subject did not give (light: the statistics import it without SQLAlchemy)."""

UNKNOWN_PROVINCE = "未识别省份"
UNKNOWN_CATEGORY = "未识别类别"
UNKNOWN_KIND = "未识别"
