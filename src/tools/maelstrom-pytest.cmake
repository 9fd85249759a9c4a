mael_tool(maelstrom-pytest ${CMAKE_CURRENT_SOURCE_DIR}/maelstrom-pytest.cc mael_pytest)
