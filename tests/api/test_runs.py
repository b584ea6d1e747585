from tests.api.conftest import Api


def test_probe(api: Api, api_round: int) -> None:
    run = api.run(api_round)
    print(run["result"]["unplaced"], len(run["result"]["proposals"]))
    r = api.get(f"/api/rounds/{api_round}/applicants/A-001/shortlist")
    print(r.json())
