/// SIA DC-09 (ANSI/SIA DC-09) reporting to alarm receiving centres.
public enum DC09 {}
