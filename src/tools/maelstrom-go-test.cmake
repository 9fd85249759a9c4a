mael_tool(maelstrom-go-test ${CMAKE_CURRENT_SOURCE_DIR}/maelstrom-go-test.cc mael_gotest)
